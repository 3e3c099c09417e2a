"""``runwatch demo``: a project of every kind of run, some trained live, for a first look."""

from runwatch.demo.project import DemoProject, create_demo_project

__all__ = ["DemoProject", "create_demo_project"]
