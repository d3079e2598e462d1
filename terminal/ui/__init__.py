"""The kiosk's touchscreen: a thin Kivy view over the kiosk core.

:mod:`terminal.ui.model`, :mod:`terminal.ui.i18n` and :mod:`terminal.ui.presenter`
are plain Python and import no Kivy; :mod:`terminal.ui.view` and
:mod:`terminal.ui.app` are the Kivy part.  Importing Kivy opens a window, so
only the app entry point imports them.
"""
