const fs = require("fs");

function helper(a, b) {
  return a + b;
}

class Widget extends Base {
  constructor(x) { super(); this.x = x; }
  render() { return "<div>" + this.x + "</div>"; }
}

module.exports.run = function (argv) {
  return helper(1, 2);
};
