"""The messaging service's settings: what the original's Jappix manager configured.

Administrators change them on one page (Paramétrage > Général > Service de messagerie);
each option has a default (from evim's settings or built in), a value stored in the
database once changed, an explanation, a validation and a real effect elsewhere in evim.

- :mod:`~evim.service.options`: every option — section, label, explanation, form field,
  default, and whether it takes effect at once or on restart;
- :mod:`~evim.service.current`: :func:`~evim.service.current.service`, the values in force
  (defaults overridden by the stored ones), cached per process;
- :mod:`~evim.service.actions`: :func:`~evim.service.actions.do_change_service_settings`,
  which stores a change atomically, audits it and lets the modules react;
- :mod:`~evim.service.views`: the settings page; :mod:`~evim.service.backoffice_parts`:
  what the service adds to the back office (menu entry, the login page's service block,
  the visit tracker); :mod:`~evim.service.tracking`: the visit tracker (Matomo) and the
  origin it adds to the Content-Security-Policy of the pages that carry it.

Data flows one way: the back office knows nothing of this module; the messaging module
and the gateway read :func:`~evim.service.current.service`.
"""
