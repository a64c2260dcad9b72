#include "usage.h"

#include "json.h"

const char *const usage_keys[] = { USAGE_INPUT, USAGE_OUTPUT, USAGE_CACHE_CREATION, USAGE_CACHE_READ,
				   NULL };

jv usage_json_add(jv sum, jv add)
{
	for (int i = 0; usage_keys[i]; i++) {
		double v = json_num(sum, usage_keys[i], 0) + json_num(add, usage_keys[i], 0);
		sum = jv_object_set(sum, jv_string(usage_keys[i]), jv_number(v));
	}
	return sum;
}

long usage_json_tokens(jv usage)
{
	struct anth_usage u = anth_usage_from_json(usage);
	return usage_tokens(&u);
}

long usage_tokens(const struct anth_usage *u)
{
	return u->input_tokens + u->output_tokens + u->cache_creation_input_tokens +
	       u->cache_read_input_tokens;
}

jv usage_ledger_total(jv ledger)
{
	jv total = jv_object();
	if (jv_get_kind(ledger) != JV_KIND_OBJECT)
		return usage_json_add(total, jv_null());
	jv_object_foreach(ledger, k, e) {
		total = usage_json_add(total, e);
		jv_free(k);
		jv_free(e);
	}
	return total;
}
