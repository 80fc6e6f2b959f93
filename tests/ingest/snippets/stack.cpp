#include <vector>
namespace ns {
template <typename T>
class Stack : public Base {
 public:
  void push(T x) {
    items.push_back(x); items.push_back(x); items.push_back(x); items.push_back(x);
    items.push_back(x); items.push_back(x); items.push_back(x); items.push_back(x);
  }
  int size() const;
 private:
  std::vector<T> items;
};
}
int ns::Stack::size() const { return 0; }
