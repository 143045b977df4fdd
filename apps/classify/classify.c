/*
 * classify: runs a linear (softmax) classifier whose weights are the deal's
 * dataset (IEXEC_IN/IEXEC_DATASET_FILENAME) on the features given as
 * arguments, and writes the predicted class and every class's score.
 *
 * Usage: classify X1 .. XN   (decimals, at most three decimals, |x| <= 1000000)
 * Output: IEXEC_OUT/result.txt, named in computed.json:
 *
 *     class NAME
 *     score NAME SCORE PROBABILITY      one line per class, in the file's order
 *
 * The weights file format is described in scripts/train-model.py, which
 * makes one and predicts with it the same way. Scores are computed in integer
 * arithmetic (weights and features are fixed-point), so the class and the
 * scores are exact; the probabilities are the softmax of the scores.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>

#include "iexec.h"

#define MAGIC "poco-classify 1"
#define MAX_FILE (64 * 1024)
#define MAX_FEATURES 32
#define MIN_CLASSES 2
#define MAX_CLASSES 16
#define MAX_NAME 32
#define MAX_WEIGHT 10000000LL
#define FEATURE_UNITS 1000LL             /* features are read in thousandths */
#define MAX_FEATURE (1000000LL * FEATURE_UNITS)

struct model {
    int features;
    int classes;
    int64_t scale;
    char names[MAX_CLASSES][MAX_NAME + 1];
    int64_t rows[MAX_CLASSES][MAX_FEATURES + 1]; /* bias, then one weight per feature */
};

/* A decimal integer within [-limit, limit]; 0 when `text` is not one. */
static int parse_int(const char *text, int64_t limit, int64_t *out) {
    const char *p = text;
    int negative = 0;
    if (*p == '+' || *p == '-') {
        negative = *p == '-';
        p++;
    }
    if (!isdigit((unsigned char)*p)) {
        return 0;
    }
    int64_t value = 0;
    for (; *p != '\0'; p++) {
        if (!isdigit((unsigned char)*p)) {
            return 0;
        }
        value = value * 10 + (*p - '0');
        if (value > limit) {
            return 0;
        }
    }
    *out = negative ? -value : value;
    return 1;
}

/* A feature: [+-]DIGITS[.D{1,3}] as thousandths, |x| <= MAX_FEATURE. */
static int64_t parse_feature(const char *text, int index) {
    const char *p = text;
    int negative = 0;
    if (*p == '+' || *p == '-') {
        negative = *p == '-';
        p++;
    }
    int64_t whole = 0;
    int digits = 0;
    for (; isdigit((unsigned char)*p); p++, digits++) {
        whole = whole * 10 + (*p - '0');
        if (whole > MAX_FEATURE / FEATURE_UNITS) {
            iexec_die("feature %d '%s' is out of range: |x| must be at most 1000000", index, text);
        }
    }
    int64_t frac = 0;
    int decimals = 0;
    if (digits > 0 && *p == '.') {
        for (p++; isdigit((unsigned char)*p) && decimals < 4; p++, decimals++) {
            frac = frac * 10 + (*p - '0');
        }
    }
    if (digits == 0 || *p != '\0' || decimals > 3 || (decimals == 0 && p[-1] == '.')) {
        iexec_die("feature %d '%s' is not a decimal number with at most three decimals "
                  "(write it like 71.5 or -0.125)",
                  index, text);
    }
    for (int d = decimals; d < 3; d++) {
        frac *= 10;
    }
    int64_t value = whole * FEATURE_UNITS + frac;
    if (value > MAX_FEATURE) {
        iexec_die("feature %d '%s' is out of range: |x| must be at most 1000000", index, text);
    }
    return negative ? -value : value;
}

static int valid_name(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > MAX_NAME) {
        return 0;
    }
    for (const char *p = name; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
            return 0;
        }
    }
    return 1;
}

/* Reads the whole dataset file (at most MAX_FILE bytes) into a NUL-terminated buffer. */
static char *read_dataset(const char *path) {
    FILE *in = fopen(path, "rb");
    if (in == NULL) {
        iexec_die("cannot open the dataset %s: %s", path, strerror(errno));
    }
    char *buf = malloc(MAX_FILE + 1);
    if (buf == NULL) {
        iexec_die("out of memory");
    }
    size_t len = fread(buf, 1, MAX_FILE + 1, in);
    if (ferror(in)) {
        iexec_die("cannot read the dataset %s", path);
    }
    fclose(in);
    if (len > MAX_FILE) {
        iexec_die("the dataset is larger than %d bytes: it is not a poco-classify weights file",
                  MAX_FILE);
    }
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\0' || (unsigned char)buf[i] >= 0x80) {
            iexec_die("the dataset is binary, not a poco-classify weights file (an encrypted "
                      "dataset is decrypted only by a TEE worker: run the deal with --tag tee)");
        }
    }
    buf[len] = '\0';
    return buf;
}

#define MAX_TOKENS (MAX_FEATURES + 3)

/* Splits `line` in place on spaces and tabs; returns the number of tokens. */
static int split(char *line, char **tokens, int line_no) {
    int n = 0;
    for (char *p = line; *p != '\0';) {
        while (*p == ' ' || *p == '\t' || *p == '\r') {
            *p++ = '\0';
        }
        if (*p == '\0') {
            break;
        }
        if (n == MAX_TOKENS) {
            iexec_die("weights file line %d has too many fields", line_no);
        }
        tokens[n++] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r') {
            p++;
        }
    }
    return n;
}

/* `key VALUE` with VALUE in [min, max]. */
static int64_t header_value(char **tok, int n, const char *key, int64_t min, int64_t max,
                            int line_no) {
    int64_t value = 0;
    if (n != 2 || strcmp(tok[0], key) != 0 || !parse_int(tok[1], max, &value) || value < min) {
        iexec_die("weights file line %d: expected '%s N' with N from %lld to %lld", line_no, key,
                  (long long)min, (long long)max);
    }
    return value;
}

static void parse_model(char *text, struct model *m) {
    char *tok[MAX_TOKENS];
    int stage = 0; /* 0 magic, 1 features, 2 classes, 3 scale, then class lines */
    int line_no = 0;
    int loaded = 0;
    char *next = text;
    while (next != NULL) {
        char *line = next;
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        line_no++;
        int n = split(line, tok, line_no);
        if (n == 0 || tok[0][0] == '#') {
            continue;
        }
        switch (stage) {
        case 0:
            if (n != 2 || strcmp(tok[0], "poco-classify") != 0 || strcmp(tok[1], "1") != 0) {
                iexec_die("the dataset is not a poco-classify 1 weights file (its first line "
                          "must be '" MAGIC "'; make one with scripts/train-model.py)");
            }
            break;
        case 1:
            m->features = (int)header_value(tok, n, "features", 1, MAX_FEATURES, line_no);
            break;
        case 2:
            m->classes = (int)header_value(tok, n, "classes", MIN_CLASSES, MAX_CLASSES, line_no);
            break;
        case 3: {
            int64_t s = header_value(tok, n, "scale", 1, 1000000, line_no);
            int64_t p = 1;
            while (p < s) {
                p *= 10;
            }
            if (p != s) {
                iexec_die("weights file line %d: the scale must be a power of ten, got %lld",
                          line_no, (long long)s);
            }
            m->scale = s;
            break;
        }
        default:
            if (loaded == m->classes) {
                iexec_die("weights file line %d: more class lines than 'classes %d'", line_no,
                          m->classes);
            }
            if (strcmp(tok[0], "class") != 0 || n != m->features + 3) {
                iexec_die("weights file line %d: expected 'class NAME BIAS' and %d weights",
                          line_no, m->features);
            }
            if (!valid_name(tok[1])) {
                iexec_die("weights file line %d: a class name is 1 to %d characters of "
                          "letters, digits, '_' or '-'",
                          line_no, MAX_NAME);
            }
            strcpy(m->names[loaded], tok[1]);
            for (int j = 0; j <= m->features; j++) {
                if (!parse_int(tok[j + 2], MAX_WEIGHT, &m->rows[loaded][j])) {
                    iexec_die("weights file line %d: '%s' is not an integer within +-%lld",
                              line_no, tok[j + 2], (long long)MAX_WEIGHT);
                }
            }
            loaded++;
            break;
        }
        if (stage < 4) {
            stage++;
        }
    }
    if (stage < 4 || loaded != m->classes) {
        iexec_die("the weights file is incomplete: it needs the header lines and %d class lines",
                  stage < 4 ? MIN_CLASSES : m->classes);
    }
}

/* Writes `value / 10^places` exactly. */
static void print_fixed(FILE *out, int64_t value, int places) {
    uint64_t mag = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    uint64_t unit = 1;
    for (int i = 0; i < places; i++) {
        unit *= 10;
    }
    fprintf(out, "%s%llu", value < 0 ? "-" : "", (unsigned long long)(mag / unit));
    if (places > 0) {
        fprintf(out, ".%0*llu", places, (unsigned long long)(mag % unit));
    }
}

int main(int argc, char **argv) {
    const char *dataset = iexec_env("IEXEC_DATASET_FILENAME", NULL);
    if (dataset == NULL) {
        iexec_die("no dataset: the model's weights are the deal's dataset "
                  "(IEXEC_DATASET_FILENAME is empty; run with --dataset)");
    }
    char in_path[4096];
    iexec_join(in_path, sizeof in_path, iexec_in_dir(), dataset);
    char *text = read_dataset(in_path);
    static struct model m;
    parse_model(text, &m);
    free(text);

    if (argc - 1 != m.features) {
        iexec_die("the model takes %d features as arguments, got %d", m.features, argc - 1);
    }
    int64_t x[MAX_FEATURES];
    for (int i = 0; i < m.features; i++) {
        x[i] = parse_feature(argv[i + 1], i + 1);
    }

    /* |bias * 1000| <= 1e10 and |w * x| <= 1e16, 32 terms: well within int64. */
    int64_t scores[MAX_CLASSES];
    int best = 0;
    for (int k = 0; k < m.classes; k++) {
        int64_t s = m.rows[k][0] * FEATURE_UNITS;
        for (int i = 0; i < m.features; i++) {
            s += m.rows[k][i + 1] * x[i];
        }
        scores[k] = s;
        if (s > scores[best]) {
            best = k;
        }
    }
    int places = 3;
    for (int64_t s = m.scale; s > 1; s /= 10) {
        places++;
    }
    double denom = (double)(m.scale * FEATURE_UNITS);
    double top = (double)scores[best] / denom;
    double exps[MAX_CLASSES], total = 0.0;
    for (int k = 0; k < m.classes; k++) {
        exps[k] = exp((double)scores[k] / denom - top);
        total += exps[k];
    }

    char out_path[4096];
    FILE *out = iexec_create_output("result.txt", out_path, sizeof out_path);
    fprintf(out, "class %s\n", m.names[best]);
    for (int k = 0; k < m.classes; k++) {
        fprintf(out, "score %s ", m.names[k]);
        print_fixed(out, scores[k], places);
        fprintf(out, " %.4f\n", exps[k] / total);
    }
    iexec_close_output(out, out_path);

    printf("classify: %s\n", m.names[best]);
    iexec_write_computed_json(out_path);
    return 0;
}
