#include <stdio.h>

/* A point. */
typedef struct {
    int x, y;
} point;

struct node { struct node *next; };

static int *make(int n) {
    return 0;
}
