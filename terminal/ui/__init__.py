"""The kiosk's touchscreen: a thin Kivy view over the kiosk core.

:mod:`terminal.ui.model`, :mod:`terminal.ui.i18n`, :mod:`terminal.ui.screens`,
:mod:`terminal.ui.presenter` and :mod:`terminal.ui.controller` are plain
Python and import no Kivy.  The Kivy part is :mod:`terminal.ui.view`,
:mod:`terminal.ui.widgets`, :mod:`terminal.ui.icons` and
:mod:`terminal.ui.palette`, set up by :mod:`terminal.ui.kivyenv` and wired
by :mod:`terminal.ui.app`.  Importing Kivy widgets opens a window, so only
the app entry point imports them, after :func:`terminal.ui.kivyenv.prepare`.
"""
