"""The guidance ``AsyncAgent.run_with_async_guidance`` adds to the system prompt.

Short on purpose: it is sent with every model call. ``GUIDANCE`` is 173 tokens
(703 characters), 185 with the line on unfinished tasks (cl100k_base and o200k_base,
counted with tiktoken); the seven tool descriptions every run carries add 774 tokens.
``tests/agent/test_agent_guidance.py`` keeps these figures honest.
"""

from __future__ import annotations

__all__ = ["GUIDANCE", "guidance_for"]

GUIDANCE = """\
Background tasks: slow work runs in parallel when you submit it instead of calling it.
1. In ONE code block, submit every independent piece of work: t1 = submit_task('tool', 'name', {...}) \
(or 'agent', 'name', {'task': '...'}). A later stage can take an earlier result as '$t1' in its args, \
so whole pipelines can be submitted at once.
2. In the same block, wait_for_tasks([...]) and then results = get_task_results([...]); print only what you need.
3. A result that is a dict with an 'error' key means that task failed, timed out or was cancelled: \
resubmit it (maybe with other args) or go on without it.
4. Call a tool directly only when you need its result at once and nothing else can run meanwhile."""

_UNFINISHED = {
    "cancel": "Tasks still unfinished when you give your final answer are cancelled.",
    "wait": "Your final answer waits for every unfinished task.",
    "keep": "Tasks still unfinished when you give your final answer keep running for the next task.",
}


def guidance_for(unfinished_tasks: str) -> str:
    """``GUIDANCE`` plus one line on what happens to unfinished tasks at the end of a run."""
    return f"{GUIDANCE}\n{_UNFINISHED[unfinished_tasks]}"
