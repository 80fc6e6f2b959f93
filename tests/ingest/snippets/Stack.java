package a.b;

import java.util.List;

/** A stack. */
@Deprecated
public class Stack<T> extends Base {
    private int x;

    public Stack() {}

    /**
     * Pushes an item onto the stack, growing the backing array when it is full.
     */
    @Override
    public void push(T item) {
        if (size == items.length) { grow(); }
        items[size++] = item;
    }

    interface Visitor { void visit(Object o); }
}
