"""Deployment tooling: render the Helm chart the way Argo CD will apply it."""
