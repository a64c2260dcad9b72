#ifndef BLLM_JSON_H
#define BLLM_JSON_H
/*
 * Reading fields of JSON objects without ceremony. Every function borrows
 * obj, accepts anything (a non-object simply has no fields), and never
 * fails.
 */
#include <jv.h>

/* obj[key] as a new reference; jv_null() when obj is no object or lacks key. */
jv json_get(jv obj, const char *key);

/*
 * obj[key] when it is a string, else NULL. The string lives inside obj:
 * valid as long as obj is.
 */
const char *json_str(jv obj, const char *key);

/* obj[key] when it is a number, else def. */
double json_num(jv obj, const char *key, double def);

#endif
