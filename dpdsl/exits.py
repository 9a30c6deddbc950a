"""Exit codes that mean one thing each, and the CLI's last line of defence.

* 0 — success;
* 1 — ``compile`` found the student unfaithful (and ``--keep-unfaithful`` was not given);
* 2 — a user error: bad spec, graph, checkpoint, student, flag, output path or a resource limit. One
  line on stderr (a spec error adds the source line and a caret);
* 3 — an internal error: an exception dpdsl did not expect, i.e. a bug. One line naming it and
  suggesting ``--debug``, which prints the traceback;
* 130 — interrupted (Ctrl-C).

Third-party warnings (torch, numpy) are recorded instead of printed, so the one-line promise holds;
``--debug`` prints them after the run.
"""

from __future__ import annotations

import sys
import traceback
import warnings
from collections.abc import Callable

from dpdsl.errors import DslError, UserError

OK = 0
UNFAITHFUL = 1
USER_ERROR = 2
INTERNAL_ERROR = 3
INTERRUPTED = 130

HELP = """exit codes:
  0    success
  1    compile: the student is not faithful to the teacher (nothing written without --keep-unfaithful)
  2    user error (spec, graph, checkpoint, student, flag, output path, resource limit): one line on
       stderr; spec errors add the offending line with a caret
  3    internal error (a bug in dpdsl): one line; rerun with --debug for the traceback
  130  interrupted"""


def first_line(text: str) -> str:
    """The first non-blank line of ``text`` (an exception message may start with a newline)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _say(msg: str) -> None:
    """One line to stderr, flushed (it may be the last thing the process does)."""
    print(msg, file=sys.stderr, flush=True)


def _internal(err: BaseException) -> str:
    """The one-line report of an unexpected exception: its type and first line, and the --debug hint."""
    what = first_line(str(err))
    name = type(err).__name__
    return (f"dpdsl: internal error: {name}{': ' + what if what else ''} (this is a bug in dpdsl; "
            "rerun with --debug for the traceback)")


def _exit_code(code: object) -> int:
    """``SystemExit.code`` as an exit status (argparse exits 0 for --help and 2 for bad flags)."""
    if code is None:
        return OK
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    _say(f"dpdsl: error: {code}")
    return USER_ERROR


def guarded(fn: Callable[[], int], *, debug: bool = False) -> int:
    """Run ``fn`` and map every outcome to an exit code, printing at most one line per error."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            code = fn()
        except DslError as err:
            code = _report(err, err.render(), debug, USER_ERROR)
        except UserError as err:
            code = _report(err, f"dpdsl: error: {first_line(err.one_line()) or type(err).__name__}",
                           debug, USER_ERROR)
        except KeyboardInterrupt:
            _say("dpdsl: interrupted")
            code = INTERRUPTED
        except MemoryError as err:
            code = _report(err, "dpdsl: error: out of memory; use a smaller input or lower the limits "
                           "(see 'Limits' in the README)", debug, USER_ERROR)
        except BrokenPipeError:  # `dpdsl run ... | head`: the reader left, nothing to report
            code = OK
        except SystemExit as err:
            code = _exit_code(err.code)
        except Exception as err:  # noqa: BLE001 - the point: anything else is a bug, said in one line
            code = _report(err, _internal(err), debug, INTERNAL_ERROR)
    if debug:
        for w in caught:
            sys.stderr.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line))
    return code


def _report(err: BaseException, line: str, debug: bool, code: int) -> int:
    """Print ``line`` (after the traceback under --debug) and return ``code``."""
    if debug:
        traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
    _say(line)
    return code
