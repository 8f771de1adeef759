"""Composite analysis: managed agents run side by side as background tasks.

The model starts the market_analyst once per region and the risk_analyst once, all at the same
time; each agent task runs on a new instance of the managed agent, so the four market studies
get four distinct answers. Runs on the model named in .env (MODEL_ID, API_KEY, BASE_URL) for
the manager and the analysts or, without one, on scripted demo models.

    .venv/bin/python examples/composite_analysis.py
"""

from async_task_system import create_async_agent
from async_task_system.demo import load_model, scenario

composite = scenario("composite")
model = load_model()
analysts = composite.managed_agents(model, delay=0.5)  # factories; scripted analysts when model is None
if model is None:
    print("No MODEL_ID in .env: running on scripted demo models (no LLM is called).")
    model = composite.demo_model()

with create_async_agent(managed_agents=analysts, model=model, max_workers=5) as agent:
    answer = agent.run_with_async_guidance(composite.task)
    tasks = sorted(agent.task_manager.tasks(), key=lambda t: t.created_at)

for t in tasks:
    print(f"{t.id:4} {t.name:15} {t.status.value:10} ran {t.run_time or 0:4.1f}s")
run = agent.last_run
print(f"{len(tasks)} agent tasks; one after another they would take {sum(t.run_time or 0 for t in tasks):.1f}s; "
      f"the run took {run.wall_time:.1f}s with {run.model_calls} model calls (sub-agents included)")
print(f"Answer:\n{answer}")
