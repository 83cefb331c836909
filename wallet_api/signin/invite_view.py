"""An invite as its issuer sees it once: the code, the join link and the link's QR code.

Shared by every route that issues an invite (``signin`` for clients, carers and a provider's
staff; ``staff`` for case managers), so the answer is the same everywhere.
"""

from __future__ import annotations

from payments.people import invites
from payments.people.invites import IssuedInvite
from wallet_api import qr
from wallet_api.settings import Settings
from wallet_api.signin import schemas as s


def invite_out(settings: Settings, issued: IssuedInvite) -> s.Invite:
    code = invites.format_code(issued.code)
    # The code travels in the fragment, so it never reaches a server's access log.
    link = f"{settings.origin}/join#{code}"
    return s.Invite(
        invite_id=issued.invite_id,
        principal_id=issued.principal_id,
        display_name=issued.display_name,
        role=issued.role,
        code=code,
        link=link,
        expires_at=issued.expires_at,
        qr_svg=qr.svg_element(link),
    )
