/*
 * Small helpers shared by the example apps: the iExec conventions
 * (IEXEC_IN, IEXEC_OUT, computed.json) in plain C.
 *
 * The apps read IEXEC_IN / IEXEC_OUT from the environment and fall back to
 * /iexec_in and /iexec_out, so the same source runs under the poco WASM
 * executor and natively (the benchmark sets IEXEC_OUT to a temp dir).
 */
#ifndef POCO_IEXEC_H
#define POCO_IEXEC_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Value of an environment variable, or `fallback` when unset or empty. */
static inline const char *iexec_env(const char *name, const char *fallback) {
    const char *value = getenv(name);
    return (value != NULL && value[0] != '\0') ? value : fallback;
}

static inline const char *iexec_in_dir(void) { return iexec_env("IEXEC_IN", "/iexec_in"); }
static inline const char *iexec_out_dir(void) { return iexec_env("IEXEC_OUT", "/iexec_out"); }

/* Print a message to stderr and exit with status 1. */
static inline void iexec_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Join `dir` and `name` into `buf`; exits on truncation. */
static inline void iexec_join(char *buf, size_t len, const char *dir, const char *name) {
    int n = snprintf(buf, len, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= len) {
        iexec_die("path too long: %s/%s", dir, name);
    }
}

/* Open `name` inside IEXEC_OUT for writing; exits on failure. */
static inline FILE *iexec_create_output(const char *name, char *path, size_t path_len) {
    iexec_join(path, path_len, iexec_out_dir(), name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        iexec_die("cannot create %s: %s", path, strerror(errno));
    }
    return f;
}

/* Close an output file, exiting if buffered data could not be written. */
static inline void iexec_close_output(FILE *f, const char *path) {
    if (ferror(f) || fclose(f) != 0) {
        iexec_die("cannot write %s", path);
    }
}

/*
 * Write IEXEC_OUT/computed.json naming `deterministic_path` (an absolute path
 * inside IEXEC_OUT) as the deterministic output.
 */
static inline void iexec_write_computed_json(const char *deterministic_path) {
    for (const char *p = deterministic_path; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
            iexec_die("output path cannot be written as JSON: %s", deterministic_path);
        }
    }
    char path[4096];
    FILE *f = iexec_create_output("computed.json", path, sizeof path);
    fprintf(f, "{\"deterministic-output-path\":\"%s\"}\n", deterministic_path);
    iexec_close_output(f, path);
}

#endif /* POCO_IEXEC_H */
