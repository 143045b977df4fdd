/*
 * wordcount: counts lines, words and bytes of the dataset file
 * (IEXEC_IN/IEXEC_DATASET_FILENAME) and lists the most frequent words.
 *
 * A word is a maximal run of ASCII letters, digits, '\'' or '-', compared
 * case-insensitively. Usage: wordcount [TOP_N]   (default 10)
 * Output: IEXEC_OUT/result.txt, named in computed.json.
 */
#include <ctype.h>
#include <stdint.h>

#include "iexec.h"

#define MAX_WORD 64

struct entry {
    char *word;
    uint64_t count;
};

struct table {
    struct entry *slots;
    size_t capacity; /* power of two */
    size_t used;
};

static uint64_t hash_word(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void table_grow(struct table *t);

static void table_add(struct table *t, const char *word, size_t len) {
    if ((t->used + 1) * 2 > t->capacity) {
        table_grow(t);
    }
    size_t mask = t->capacity - 1;
    size_t i = (size_t)hash_word(word, len) & mask;
    while (t->slots[i].word != NULL) {
        if (strlen(t->slots[i].word) == len && memcmp(t->slots[i].word, word, len) == 0) {
            t->slots[i].count++;
            return;
        }
        i = (i + 1) & mask;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        iexec_die("out of memory");
    }
    memcpy(copy, word, len);
    copy[len] = '\0';
    t->slots[i].word = copy;
    t->slots[i].count = 1;
    t->used++;
}

static void table_grow(struct table *t) {
    size_t new_capacity = t->capacity == 0 ? 1024 : t->capacity * 2;
    struct entry *slots = calloc(new_capacity, sizeof *slots);
    if (slots == NULL) {
        iexec_die("out of memory");
    }
    for (size_t j = 0; j < t->capacity; j++) {
        struct entry e = t->slots[j];
        if (e.word == NULL) {
            continue;
        }
        size_t i = (size_t)hash_word(e.word, strlen(e.word)) & (new_capacity - 1);
        while (slots[i].word != NULL) {
            i = (i + 1) & (new_capacity - 1);
        }
        slots[i] = e;
    }
    free(t->slots);
    t->slots = slots;
    t->capacity = new_capacity;
}

/* Most frequent first; ties in byte order of the word, so output is stable. */
static int by_count_then_word(const void *a, const void *b) {
    const struct entry *x = a, *y = b;
    if (x->count != y->count) {
        return x->count > y->count ? -1 : 1;
    }
    return strcmp(x->word, y->word);
}

static int is_word_char(int c) { return isalnum(c) || c == '\'' || c == '-'; }

int main(int argc, char **argv) {
    long top_n = 10;
    if (argc > 1) {
        char *end = NULL;
        top_n = strtol(argv[1], &end, 10);
        if (end == argv[1] || *end != '\0' || top_n < 0) {
            iexec_die("TOP_N must be a non-negative integer, got '%s'", argv[1]);
        }
    }

    const char *dataset = iexec_env("IEXEC_DATASET_FILENAME", NULL);
    if (dataset == NULL) {
        iexec_die("no dataset: this app counts words in the deal's dataset "
                  "(IEXEC_DATASET_FILENAME is empty)");
    }
    char in_path[4096];
    iexec_join(in_path, sizeof in_path, iexec_in_dir(), dataset);
    FILE *in = fopen(in_path, "rb");
    if (in == NULL) {
        iexec_die("cannot open dataset %s: %s", in_path, strerror(errno));
    }

    struct table words = {0};
    uint64_t bytes = 0, lines = 0, total_words = 0;
    char word[MAX_WORD];
    size_t word_len = 0;
    int in_word = 0;
    int c;
    while ((c = fgetc(in)) != EOF) {
        bytes++;
        if (c == '\n') {
            lines++;
        }
        if (is_word_char(c)) {
            if (!in_word) {
                in_word = 1;
                word_len = 0;
                total_words++;
            }
            if (word_len < MAX_WORD - 1) { /* longer words are truncated */
                word[word_len++] = (char)tolower(c);
            }
        } else if (in_word) {
            in_word = 0;
            table_add(&words, word, word_len);
        }
    }
    if (ferror(in)) {
        iexec_die("cannot read dataset %s", in_path);
    }
    if (in_word) {
        table_add(&words, word, word_len);
    }
    fclose(in);

    struct entry *sorted = malloc((words.used + 1) * sizeof *sorted);
    if (sorted == NULL) {
        iexec_die("out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < words.capacity; i++) {
        if (words.slots[i].word != NULL) {
            sorted[n++] = words.slots[i];
        }
    }
    qsort(sorted, n, sizeof *sorted, by_count_then_word);

    char out_path[4096];
    FILE *out = iexec_create_output("result.txt", out_path, sizeof out_path);
    fprintf(out, "lines %llu\nwords %llu\nbytes %llu\ndistinct %llu\n",
            (unsigned long long)lines, (unsigned long long)total_words,
            (unsigned long long)bytes, (unsigned long long)n);
    for (size_t i = 0; i < n && i < (size_t)top_n; i++) {
        fprintf(out, "%llu %s\n", (unsigned long long)sorted[i].count, sorted[i].word);
    }
    iexec_close_output(out, out_path);

    printf("wordcount: %llu words in %llu lines\n", (unsigned long long)total_words,
           (unsigned long long)lines);
    iexec_write_computed_json(out_path);
    return 0;
}
