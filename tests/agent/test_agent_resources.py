"""``create_async_agent(resources=...)``: what each tool or managed agent needs, carried by its tasks."""

from __future__ import annotations

import pytest
from agent_helpers import slow_lookup

from async_task_system import InvalidArgumentError, create_async_agent
from async_task_system.testing import ScriptedModel

SUBMIT_TWO = (
    "ids = [submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0.0}),\n"
    "       submit_task('tool', 'flaky_fetch', {'url': 'https://example.org'})]\n"
    "print(wait_for_tasks(ids, max_wait_time=10))\n"
    "final_answer(get_task_results(ids))"
)


def test_a_tools_resources_travel_with_every_task_it_runs(make_agent) -> None:
    agent = make_agent([SUBMIT_TWO], resources={"slow_lookup": {"GPU": 1}})
    assert agent.run("Look up a and fetch a page.") == {"t1": "value-of-a", "t2": "<html>https://example.org</html>"}
    needs = {info.name: info.resources for info in agent.last_run.tasks}
    assert needs == {"slow_lookup": {"GPU": 1.0}, "flaky_fetch": {}}
    assert agent.task_manager.name_resources == {"slow_lookup": {"GPU": 1.0}}


def test_resources_for_a_name_that_is_not_registered_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"resources names \['slow_lokup'\], which are not tools or "
                                                   r"managed agents here \(tools: slow_lookup\)"):
        create_async_agent(tools=[slow_lookup], model=ScriptedModel([]), resources={"slow_lokup": {"GPU": 1}})


@pytest.mark.parametrize("bad, why", [
    ({"slow_lookup": {"GPU": -1}}, r"resources\['slow_lookup'\]: the quantity of 'GPU' must be a finite number > 0"),
    ({"slow_lookup": "GPU=1"}, r"resources\['slow_lookup'\] must be a dict of resource name -> quantity"),
    ("GPU=1", r"resources must be a dict of task name -> resources such as"),
])
def test_bad_resources_are_refused_when_the_agent_is_built(bad, why) -> None:
    with pytest.raises(InvalidArgumentError, match=why):
        create_async_agent(tools=[slow_lookup], model=ScriptedModel([]), resources=bad)
