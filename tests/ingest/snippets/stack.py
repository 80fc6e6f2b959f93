"""Module doc."""

from collections import UserList as Base

LIMIT = 1


class Stack(Base):
    """A stack."""

    size = 0

    def push(self, item):
        self.items.append(item)

    # Pops the top.
    @property
    def pop(self):
        """Remove and return the top item of the stack, raising IndexError when empty."""
        if not self.items:
            raise IndexError("pop from empty stack")
        return self.items.pop()

    class Inner:
        def a(self):
            def nested():
                return 1

            return nested() + 1234567890 + 1234567890 + 1234567890 + 1234567890 + 1234567890


def main():
    s = Stack()
    s.push(1)


if __name__ == "__main__":
    main()
