"""Top-level URLs: pages, the API and its documentation, admin, i18n."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import views
from surveys.unsubscribe import unsubscribe_page
from surveys.views import survey_form
from touchpoints.apis.events import SegmentApi

urlpatterns = [
    path("", include("touchpoints.urls")),
    path("", include("surveys.urls")),
    path("", include("analytics.urls")),
    path("", include("analytics.case_urls")),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("health/", views.health, name="health"),
    path("s/<str:token>/", survey_form, name="survey-form"),
    path("s/<str:token>/unsubscribe/", unsubscribe_page, name="survey-unsubscribe"),
    path("api/v1/", include(("config.api_urls", "api"), namespace="api")),
    # Segment's HTTP tracking API, so its SDKs (and RudderStack's) work by pointing their host here.
    *[
        re_path(rf"^v1/{kind}/?$", SegmentApi.as_view(kind=kind), name=f"segment-{kind}")
        for kind in ("batch", "track", "identify", "page", "screen")
    ],
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
