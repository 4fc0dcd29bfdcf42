"""``/api/v1/``: every app's API routes under one namespace, ``api``."""

from analytics.api_urls import urlpatterns as analytics_urls
from surveys.api_urls import urlpatterns as surveys_urls
from touchpoints.api_urls import urlpatterns as touchpoints_urls

urlpatterns = [*touchpoints_urls, *surveys_urls, *analytics_urls]
