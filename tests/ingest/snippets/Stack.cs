using System;

namespace App.Core
{
    /// <summary>A stack.</summary>
    public class Stack<T> : Base
    {
        private int count;

        public void Push(T item)
        {
            Grow();
            items[count++] = item;
        }

        public int Count { get; set; }
    }
}
