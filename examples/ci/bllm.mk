# bllm in a Makefile. Include it from yours (include path/to/bllm.mk) or
# run it directly (make -f path/to/bllm.mk agent TASK="...").
#
#   make agent TASK="add a --json flag to wc.c"   one task with bllm-manage
#   make agent-batch TASKS=tasks.txt               every task of a file with bllm-batch,
#                                                  each on its branch bllm/batch/ID
#
# Both keep a budget (BLLM_MAX_COST_USD per run, BLLM_MAX_TURNS), never wait
# for a person, and leave in $(BLLM_OUT)/: the event stream(s), the
# session(s), summary.md (bllm-render --format markdown) and exit-code (bllm's
# documented code; make itself only says that the recipe failed).
# BLLM_WORKDIR is the project (a git repository for agent-batch); BLLM_FLAGS
# go to every bllm-manage (e.g. --config FILE, --model NAME).
# Override any variable on the command line or before the include.

BLLM_MANAGE       ?= bllm-manage
BLLM_BATCH        ?= bllm-batch
BLLM_RENDER       ?= bllm-render
BLLM_MAX_COST_USD ?= 2.00
BLLM_MAX_TURNS    ?= 60
BLLM_JOBS         ?= 2
BLLM_OUT          ?= bllm-out
BLLM_WORKDIR      ?= .
BLLM_FLAGS        ?=
TASKS             ?= tasks.txt

# The task reaches the shell through the environment, never through the
# recipe's text, so quotes and $ in it cannot break (or inject into) the
# command; $(value) keeps make from expanding $ in it.
BLLM_TASK_TEXT := $(value TASK)
export BLLM_TASK_TEXT

.PHONY: agent agent-batch

agent:
	@test -n "$$BLLM_TASK_TEXT" || { echo 'usage: make agent TASK="what to do"' >&2; exit 2; }
	@mkdir -p $(BLLM_OUT)
	@$(BLLM_MANAGE) -C $(BLLM_WORKDIR) --no-interactive --quiet --max-cost-usd $(BLLM_MAX_COST_USD) \
		--max-turns $(BLLM_MAX_TURNS) --sessions-dir $(BLLM_OUT)/sessions \
		-o $(BLLM_OUT)/events.ndjson $(BLLM_FLAGS) -- "$$BLLM_TASK_TEXT"; \
	code=$$?; echo $$code >$(BLLM_OUT)/exit-code; \
	$(BLLM_RENDER) --format markdown $(BLLM_OUT)/events.ndjson >$(BLLM_OUT)/summary.md; \
	echo "bllm-manage: exit $$code; summary in $(BLLM_OUT)/summary.md"; \
	exit $$code

agent-batch:
	@test -r "$(TASKS)" || { echo "make agent-batch: no task file $(TASKS) (one task per line)" >&2; exit 2; }
	@mkdir -p $(BLLM_OUT)
	@$(BLLM_BATCH) -C $(BLLM_WORKDIR) -j $(BLLM_JOBS) --sessions-dir $(BLLM_OUT)/sessions $(TASKS) -- \
		--max-cost-usd $(BLLM_MAX_COST_USD) --max-turns $(BLLM_MAX_TURNS) $(BLLM_FLAGS) \
		>$(BLLM_OUT)/batch.ndjson; \
	code=$$?; echo $$code >$(BLLM_OUT)/exit-code; \
	for e in $(BLLM_OUT)/sessions/batch-*/*.ndjson; do \
		[ -e "$$e" ] && $(BLLM_RENDER) --format markdown "$$e"; echo; \
	done >$(BLLM_OUT)/summary.md; \
	echo "bllm-batch: exit $$code; one line per task in $(BLLM_OUT)/batch.ndjson"; \
	exit $$code
