/* json_valid.c - a JSON syntax check that allocates nothing.  cJSON returns
 * NULL both for bad text and when it runs out of memory; when text that
 * passes this check fails to parse, the parser ran out of memory.  The
 * check is at least as strict as cJSON 1.7: RFC 8259's grammar, numbers of
 * at most 63 characters (cJSON reads no more), nesting within its limit. */
#include "nn_internal.h"

#include <cjson/cJSON.h>
#include <string.h>

typedef struct scan {
    const char *s, *end;
    int depth;
} scan;

static void blanks(scan *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static int eat(scan *p, char c)
{
    blanks(p);
    if (p->s < p->end && *p->s == c) {
        p->s++;
        return 1;
    }
    return 0;
}

static int hex4(const char *s, const char *end, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++, s++) {
        if (s >= end)
            return 0;
        char c = *s;
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16;
        if (d == 16)
            return 0;
        *v = *v << 4 | d;
    }
    return 1;
}

/* A string, its opening quote next; UTF-16 surrogates only in pairs. */
static int string(scan *p)
{
    if (!eat(p, '"'))
        return 0;
    while (p->s < p->end && *p->s != '"') {
        unsigned char c = (unsigned char)*p->s++;
        unsigned u, low;
        if (c < 0x20)
            return 0;
        if (c != '\\')
            continue;
        if (p->s >= p->end)
            return 0;
        c = (unsigned char)*p->s++;
        if (c != 'u') {
            if (!strchr("\"\\/bfnrt", c) || c == '\0')
                return 0;
            continue;
        }
        if (!hex4(p->s, p->end, &u))
            return 0;
        p->s += 4;
        if (u >= 0xdc00 && u <= 0xdfff)
            return 0;
        if (u >= 0xd800 && u <= 0xdbff) {
            if (p->end - p->s < 6 || p->s[0] != '\\' || p->s[1] != 'u' ||
                !hex4(p->s + 2, p->end, &low) || low < 0xdc00 || low > 0xdfff)
                return 0;
            p->s += 6;
        }
    }
    return eat(p, '"');
}

static int digits(scan *p)
{
    const char *start = p->s;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
        p->s++;
    return p->s > start;
}

static int number(scan *p)
{
    const char *start = p->s;
    if (p->s < p->end && *p->s == '-')
        p->s++;
    if (p->s < p->end && *p->s == '0')
        p->s++;
    else if (!digits(p))
        return 0;
    if (p->s < p->end && *p->s == '.' && (p->s++, !digits(p)))
        return 0;
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-'))
            p->s++;
        if (!digits(p))
            return 0;
    }
    return p->s - start <= 63;
}

static int word(scan *p, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0)
        return 0;
    p->s += n;
    return 1;
}

static int value(scan *p);

/* An object or array, its opening bracket next: members until close. */
static int members(scan *p, char close, int keyed)
{
    if (++p->depth > CJSON_NESTING_LIMIT)
        return 0;
    p->s++;
    if (eat(p, close)) {
        p->depth--;
        return 1;
    }
    do {
        if (keyed && !(string(p) && eat(p, ':')))
            return 0;
        if (!value(p))
            return 0;
    } while (eat(p, ','));
    p->depth--;
    return eat(p, close);
}

static int value(scan *p)
{
    blanks(p);
    if (p->s >= p->end)
        return 0;
    switch (*p->s) {
    case '{':
        return members(p, '}', 1);
    case '[':
        return members(p, ']', 0);
    case '"':
        return string(p);
    case 't':
        return word(p, "true");
    case 'f':
        return word(p, "false");
    case 'n':
        return word(p, "null");
    default:
        return number(p);
    }
}

int nb__json_valid(const char *s, size_t len)
{
    scan p = { s, s + len, 0 };
    return value(&p);
}
