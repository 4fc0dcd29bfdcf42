"""Surveys, questions, trigger rules, invitations, delivery, responses and public forms.

Depends on :mod:`touchpoints`; nothing in :mod:`touchpoints` depends on it.
"""
