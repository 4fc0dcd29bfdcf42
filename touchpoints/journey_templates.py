"""Journey templates: the stages a new journey can start from."""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

#: The standard customer journey, in order. Names are stored in the workspace's
#: language when a journey is created from this template.
STANDARD_STAGES: list[tuple[Promise, Promise]] = [
    (_("Awareness"), _("The customer learns that we exist.")),
    (_("Consideration"), _("The customer compares us with the alternatives.")),
    (_("Interest"), _("The customer looks closer at what we offer.")),
    (_("Intent"), _("The customer decides to buy.")),
    (_("Purchase"), _("The customer buys.")),
    (_("Post-purchase"), _("Delivery, set-up and first use.")),
    (_("Retention"), _("The customer keeps using us and comes back.")),
    (_("Advocacy"), _("The customer recommends us to others.")),
    (_("Loyalty"), _("The customer stays with us for the long run.")),
]
