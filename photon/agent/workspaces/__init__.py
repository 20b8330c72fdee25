"""Git workspaces for tasks: one clone per repository in the agent's data dir, a worktree on a
branch of its own for each task (or one shared checkout), and what the task changed, committed
and summed up in its outputs (docs/tasks.md, "Workspaces")."""

from ._git import GitError as GitError
from ._summary import MAX_PATCH_BYTES as MAX_PATCH_BYTES
from ._workspaces import Checkout as Checkout
from ._workspaces import Workspaces as Workspaces

__all__ = ["MAX_PATCH_BYTES", "Checkout", "GitError", "Workspaces"]
