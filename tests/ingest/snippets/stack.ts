import { x } from "y";
/** A stack. */
export class Stack<T> {
  private items: T[] = [];
  push(item: T): void {
    this.items.push(item); this.items.push(item); this.items.push(item); this.items.push(item);
    this.items.push(item); this.items.push(item); this.items.push(item);
  }
}
export const add = (a: number, b: number): number => a + b;
namespace NS { export function f() { return 1; } }
interface Props { a: string }
