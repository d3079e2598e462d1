"""The kiosk's touchscreen: a thin Kivy view over the kiosk core.

:mod:`terminal.ui.model`, :mod:`terminal.ui.i18n`, :mod:`terminal.ui.screens`
and :mod:`terminal.ui.shop_screens`, the presenters (:mod:`terminal.ui.base_presenter`,
:mod:`terminal.ui.presenter` for a check-in kiosk, :mod:`terminal.ui.shop_presenter`
for a shop terminal's till) and :mod:`terminal.ui.controller` are plain
Python and import no Kivy.  The Kivy part is :mod:`terminal.ui.view`,
:mod:`terminal.ui.widgets`, :mod:`terminal.ui.icons` and
:mod:`terminal.ui.palette`, set up by :mod:`terminal.ui.kivyenv` and wired
by :mod:`terminal.ui.app`.  Importing Kivy widgets opens a window, so only
the app entry point imports them, after :func:`terminal.ui.kivyenv.prepare`.
"""
