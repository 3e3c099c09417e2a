"""``runwatch.project`` under its former name, for imports written against it."""

from runwatch.project import LayoutError, Project, find_project_root

__all__ = ["LayoutError", "Project", "find_project_root"]
