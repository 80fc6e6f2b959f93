require "set"

module Shapes
  class Stack < Base
    attr_reader :items

    def push(x)
      @items << x
    end

    def self.create
      new
    end
  end
end
