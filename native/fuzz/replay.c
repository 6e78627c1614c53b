/*
 * replay.c - main() for a fuzz target built without libFuzzer (any C compiler): runs
 * LLVMFuzzerTestOneInput once on each file given, or on each file of each directory given,
 * like a libFuzzer binary does with `-runs=0 DIR...`. Options (arguments starting with '-') are
 * ignored, so the same command line works for both. A violated property aborts.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    uint8_t *data = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *grown = realloc(data, cap);
            if (grown == NULL) {
                fprintf(stderr, "%s: out of memory\n", path);
                free(data);
                fclose(f);
                return 1;
            }
            data = grown;
        }
        const size_t got = fread(data + size, 1, cap - size, f);
        size += got;
        if (got == 0) break;
    }
    const int failed = ferror(f);
    fclose(f);
    if (failed) {
        fprintf(stderr, "%s: read error\n", path);
        free(data);
        return 1;
    }
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

int main(int argc, char **argv) {
    int errors = 0, inputs = 0;
    for (int a = 1; a < argc; a++) {
        if (argv[a][0] == '-') continue;
        struct stat sb;
        if (stat(argv[a], &sb) != 0) {
            perror(argv[a]);
            errors++;
            continue;
        }
        if (!S_ISDIR(sb.st_mode)) {
            errors += run_file(argv[a]);
            inputs++;
            continue;
        }
        DIR *d = opendir(argv[a]);
        if (d == NULL) {
            perror(argv[a]);
            errors++;
            continue;
        }
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            errors += run_file(path);
            inputs++;
        }
        closedir(d);
    }
    printf("%s: %d input(s) replayed, %d error(s)\n", argv[0], inputs, errors);
    return errors != 0;
}
