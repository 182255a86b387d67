"""Notes whose words a task counts through the ORM."""
