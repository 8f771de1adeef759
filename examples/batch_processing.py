"""Batch processing: 10 files through clean -> analyze -> chart, each stage chained to the last.

The model submits all 30 tasks at once; "$<id>" placeholders hand each stage the result of the
one before, so every file moves on as soon as its previous stage is done. Runs on the model named
in .env (MODEL_ID, API_KEY, BASE_URL) or, without one, on the scripted demo model.

    .venv/bin/python examples/batch_processing.py
"""

from async_task_system import create_async_agent
from async_task_system.demo import load_model, scenario

batch = scenario("batch")
model = load_model()
if model is None:
    print("No MODEL_ID in .env: running on the scripted demo model (no LLM is called).")
    model = batch.demo_model()

with create_async_agent(tools=batch.tools(delay=0.5), model=model, max_workers=4) as agent:
    answer = agent.run_with_async_guidance(batch.task)
    tasks = sorted(agent.task_manager.tasks(), key=lambda t: t.created_at)

for stage in ("clean_file", "analyze_data", "make_chart"):
    done = [t for t in tasks if t.name == stage and t.status == "completed"]
    print(f"{stage:13} {len(done)} completed")
serial = sum(t.run_time or 0 for t in tasks)
print(f"{len(tasks)} tasks; one after another they would take {serial:.1f}s; "
      f"the run took {agent.last_run.wall_time:.1f}s with {agent.last_run.model_calls} model calls")
print(f"Answer: {answer}")
