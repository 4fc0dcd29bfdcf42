"""Survey models arrive with the surveys issue (Survey, Question, TriggerRule, Invitation, Response)."""
