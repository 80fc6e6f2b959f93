#!/bin/bash
set -e

# Print a greeting.
greet() {
  echo "hello $1"
}

function main {
  greet world
}

main "$@"
