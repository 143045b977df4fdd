/*
 * hello: the smallest useful iExec app.
 *
 * Writes IEXEC_OUT/result.txt with a greeting, its arguments (one per line)
 * and every IEXEC_* environment variable in the order the worker set them,
 * then names result.txt in computed.json.
 */
#include "iexec.h"

extern char **environ;

int main(int argc, char **argv) {
    char path[4096];
    FILE *out = iexec_create_output("result.txt", path, sizeof path);

    fputs("Hello", out);
    for (int i = 1; i < argc; i++) {
        fprintf(out, "%s%s", i == 1 ? ", " : " ", argv[i]);
    }
    fputs("!\n", out);

    fprintf(out, "argc=%d\n", argc - 1);
    for (int i = 1; i < argc; i++) {
        fprintf(out, "arg[%d]=%s\n", i, argv[i]);
    }
    for (char **env = environ; *env != NULL; env++) {
        if (strncmp(*env, "IEXEC_", 6) == 0) {
            fprintf(out, "%s\n", *env);
        }
    }
    iexec_close_output(out, path);

    printf("hello: wrote %s\n", path);
    iexec_write_computed_json(path);
    return 0;
}
