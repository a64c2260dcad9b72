#include "json.h"

jv json_get(jv obj, const char *key)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_null();
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	if (!jv_is_valid(v)) {
		jv_free(v);
		return jv_null();
	}
	return v;
}

const char *json_str(jv obj, const char *key)
{
	jv v = json_get(obj, key);
	/* obj keeps its own reference to the string, so it outlives v. */
	const char *s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : NULL;
	jv_free(v);
	return s;
}

double json_num(jv obj, const char *key, double def)
{
	jv v = json_get(obj, key);
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : def;
	jv_free(v);
	return d;
}
