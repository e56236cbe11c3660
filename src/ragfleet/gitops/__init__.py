"""GitOps delivery: move the image tags an environment runs by committing to its values file."""

from ragfleet.gitops.bump import BumpError, BumpResult, bump, current_tag

__all__ = ["BumpError", "BumpResult", "bump", "current_tag"]
