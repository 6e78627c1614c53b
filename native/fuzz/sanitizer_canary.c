/*
 * sanitizer_canary.c - `sanitizer_canary ub|oob|leak` commits one error (signed overflow, a heap
 * read past the end, a leak). Built with the AsanUbsan flags it must be reported and stop the
 * program with a failure status (-fno-sanitize-recover=all); canary.cmake checks both.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile leaked;

int main(int argc, char **argv) {
    volatile int big = INT_MAX, past = 4;
    if (argc != 2) return 2;
    if (strcmp(argv[1], "ub") == 0) {
        const int x = big + 1;
        printf("survived: %d\n", x);
    } else if (strcmp(argv[1], "oob") == 0) {
        char *volatile p = malloc(4); // volatile: UBSan's object-size check cannot see the size
        if (p == NULL) return 2;
        memset(p, 0, 4);
        printf("survived: %d\n", p[past]);
        free(p);
    } else if (strcmp(argv[1], "leak") == 0) {
        leaked = malloc(64);
        leaked = NULL;
        printf("survived until exit\n");
    } else {
        return 2;
    }
    return 0;
}
