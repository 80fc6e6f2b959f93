"""Search: a validated `Query` in, complete `Hit`s out (`searcher`), score and rank fusion (`fusion`), the
keyword analyser shared by the store and the evaluator (`tokens`), highlight boxes (`regions`)."""
