"""The model-facing ``send_message`` tool (the mailboxes are in ``_messages``)."""

from __future__ import annotations

from typing import Any

from ._board import TaskBoard
from ._messages import Mailboxes, deliver_message
from ._tools import _BoardTool

__all__ = ["SendMessageTool", "send_message"]


def send_message(board: TaskBoard, boxes: Mailboxes, task_id: Any, text: Any, questions: Any = None) -> str:
    """Check ``task_id`` as every board tool does (a known id of this agent), then deliver ``text``
    (an answer, if the task waits for input)."""
    tid = board._one_id(task_id)
    board._check_known([tid])
    return deliver_message(board.tm, boxes, tid, text, questions)


class SendMessageTool(_BoardTool):
    name = "send_message"
    description = (
        "Send a message to a running managed-agent task; it reads it at its next step (a task that asked a "
        "question gets your answer). Example: send_message(paris, 'Only cover 2024')"
    )
    inputs = {
        "task_id": {"type": "string", "description": "the id submit_task returned"},
        "message": {"type": "string", "description": "what it should know or do"},
    }
    output_type = "string"
    skip_forward_signature_validation = True  # for **guessed
    aliases = {"id": "task_id", "task": "task_id", "text": "message", "content": "message", "answer": "message"}

    def __init__(self, board: TaskBoard, boxes: Mailboxes, questions: Any = None) -> None:
        self.boxes = boxes
        self.questions = questions  # an InputRequests: a task waiting for input gets the message as its answer
        super().__init__(board)

    def forward(self, task_id: str | None = None, message: str | None = None, **guessed: Any) -> str:
        a = self._named({"task_id": task_id, "message": message}, guessed)
        return send_message(self.board, self.boxes, a["task_id"], a["message"], self.questions)
