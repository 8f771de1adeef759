"""The guidance ``AsyncAgent.run_with_async_guidance`` adds to the system prompt.

Written for a model that has never seen this library, and short: it is sent with every
model call. ``GUIDANCE`` is 318 tokens, 330 with the line on unfinished tasks (cl100k_base,
counted with tiktoken); the seven tool descriptions every run carries add 634 tokens
(964 in all, under the 1,200 budget).
With completion notices on, ``LIVE_GUIDANCE`` and the ``send_message`` description bring the
whole to 1,115 (``test_with_live_coordination_...`` counts it).
``tests/agent/test_agent_guidance.py`` keeps these figures honest.
"""

from __future__ import annotations

__all__ = ["GUIDANCE", "LIVE_GUIDANCE", "guidance_for"]

GUIDANCE = """\
## Background tasks
Slow work runs in parallel when you submit it instead of calling it.
1. In ONE code block, submit every independent piece of work. submit_task returns a task id at once (priority, timeout and depends_on are optional): paris = submit_task('tool', 'search', {'query': 'Paris'}); a managed agent: submit_task('agent', 'name', {'task': '...'}).
2. To pass a result on, write '$' + the variable holding its id: {'text': '$' + paris}, or inside text \
f'Summarise: ${paris}' ('$paris' works too). The new task waits for that one, so a whole pipeline can be \
submitted at once.
3. In the same block, wait_for_tasks() (default: every unfinished task) and then results = get_task_results(), \
a dict {task_id: result} with whole values, usable at once in that block; printing it shows only a preview, \
so print what you need.
4. A task that failed, timed out or was cancelled gives a NoResult: test isinstance(r, NoResult); r.error says why. \
Resubmit it (maybe with other args) or go on without it.
5. A managed agent's result is text: "Here is the final answer from your managed agent '<name>': ...".
6. Unlike other tools, calling wait_for_tasks or get_task_results again with the same arguments is right: \
tasks progress in between. Call a tool directly only when nothing else can run meanwhile."""

_UNFINISHED = {
    "cancel": "Tasks still unfinished when you give your final answer are cancelled.",
    "wait": "Your final answer waits for every unfinished task.",
    "keep": "Tasks still unfinished when you give your final answer keep running for the next task.",
}


def guidance_for(unfinished_tasks: str) -> str:
    """``GUIDANCE`` plus one line on what happens to unfinished tasks at the end of a run."""
    return f"{GUIDANCE}\n{_UNFINISHED[unfinished_tasks]}"

# ---- live coordination (completion notices, messages): added to the guidance when notices are on ----

LIVE_GUIDANCE = """\
7. At the start of each step you may get "Background task notices": tasks that finished since your last step, \
with a preview. You can keep doing your own work and rely on them instead of waiting or polling. \
send_message(task_id, text) tells a running managed agent something (it reads it at its next step)."""
