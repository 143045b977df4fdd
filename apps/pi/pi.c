/*
 * pi: Monte-Carlo estimate of pi with a seeded generator (xoshiro256**,
 * seeded through splitmix64), so every run with the same arguments gives the
 * same bytes. CPU-bound: used by the native vs WASM benchmark.
 *
 * Usage: pi [SEED] [SAMPLES]   (defaults: 1, 10000000)
 * Output: IEXEC_OUT/result.txt, named in computed.json.
 */
#include <stdint.h>

#include "iexec.h"

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(struct rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/*
 * Uniform double in [0, 1) from the top 53 bits. The value fits in 53 bits,
 * so converting it as a signed integer is exact, and it compiles to one
 * instruction where an unsigned 64-bit conversion needs several in WASM.
 */
static double next_unit(struct rng *r) {
    return (double)(int64_t)(next_u64(r) >> 11) * 0x1.0p-53;
}

static uint64_t parse_u64(const char *text, const char *what) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
        iexec_die("%s must be a non-negative integer, got '%s'", what, text);
    }
    return (uint64_t)v;
}

int main(int argc, char **argv) {
    uint64_t seed = argc > 1 ? parse_u64(argv[1], "SEED") : 1;
    uint64_t samples = argc > 2 ? parse_u64(argv[2], "SAMPLES") : 10000000;
    if (samples == 0) {
        iexec_die("SAMPLES must be at least 1");
    }

    struct rng r;
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) {
        r.s[i] = splitmix64(&sm);
    }

    uint64_t inside = 0;
    for (uint64_t i = 0; i < samples; i++) {
        double x = next_unit(&r);
        double y = next_unit(&r);
        if (x * x + y * y < 1.0) {
            inside++;
        }
    }
    double pi = 4.0 * (double)inside / (double)samples;

    char path[4096];
    FILE *out = iexec_create_output("result.txt", path, sizeof path);
    fprintf(out, "seed %llu\nsamples %llu\ninside %llu\npi %.12f\n", (unsigned long long)seed,
            (unsigned long long)samples, (unsigned long long)inside, pi);
    iexec_close_output(out, path);

    printf("pi: %.12f after %llu samples\n", pi, (unsigned long long)samples);
    iexec_write_computed_json(path);
    return 0;
}
