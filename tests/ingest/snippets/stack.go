package main

import "fmt"

// Stack is a LIFO stack.
type Stack struct {
	items []int
}

// Push adds x on top.
func (s *Stack) Push(x int) {
	s.items = append(s.items, x)
}

func main() {
	fmt.Println("hi")
}
