"""Data gathering: four sources fetched at once, then merged as soon as all four are in.

The merge task names the four fetches as "$<id>" placeholders, so it waits for them and receives
their results; the model waits for the merge alone. Runs on the model named in .env (MODEL_ID,
API_KEY, BASE_URL) or, without one, on the scripted demo model.

    .venv/bin/python examples/data_gathering.py
"""

from async_task_system import create_async_agent
from async_task_system.demo import load_model, scenario

gather = scenario("gather")
model = load_model()
if model is None:
    print("No MODEL_ID in .env: running on the scripted demo model (no LLM is called).")
    model = gather.demo_model()

with create_async_agent(tools=gather.tools(delay=0.5), model=model, max_workers=4) as agent:
    answer = agent.run_with_async_guidance(gather.task)
    tasks = sorted(agent.task_manager.tasks(), key=lambda t: t.created_at)

for t in tasks:
    print(f"{t.id:4} {t.name:15} {t.status.value:10} waited {t.queue_wait or 0:4.1f}s  ran {t.run_time or 0:4.1f}s")
serial = sum(t.run_time or 0 for t in tasks)
print(f"{len(tasks)} tasks; one after another they would take {serial:.1f}s; "
      f"the run took {agent.last_run.wall_time:.1f}s with {agent.last_run.model_calls} model calls")
print(f"Answer: {answer}")
