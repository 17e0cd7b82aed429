"""Run an exported model on a Cortex-M4 under QEMU (``mps2-an386``), bare metal.

The firmware is the exported C, a vector table and reset handler (``.data`` copy, ``.bss``
clear, FPU on), and a main that reads windows from a host file and writes classes and logits
back through semihosting, so no test data sits in flash. The linker script caps flash and RAM.
Flash is (firmware with the model) minus (the same firmware with a stub model); RAM is the
model's static data plus the sum of the stack frames of all its functions (an upper bound on
its deepest call chain, from ``-fstack-usage``).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._export_c import export_c, export_header
from ._runtime import Model

__all__ = ["M4Run", "run_on_m4"]

_FLASH_LIMIT, _RAM_LIMIT = 64 * 1024, 16 * 1024  # the whole firmware; the bars are the model's
_CFLAGS = [
    "arm-none-eabi-gcc", "-std=c99", "-Os", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
    "-mfpu=fpv4-sp-d16", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-Werror",
]  # fmt: skip

_LINKER = f"""
MEMORY {{
    FLASH (rx) : ORIGIN = 0x00000000, LENGTH = {_FLASH_LIMIT}
    RAM (rwx) : ORIGIN = 0x20000000, LENGTH = {_RAM_LIMIT}
}}
_stack_top = ORIGIN(RAM) + LENGTH(RAM);
SECTIONS {{
    .text : {{ KEEP(*(.vectors)) *(.text*) *(.rodata*) . = ALIGN(4); }} > FLASH
    .ARM.exidx : {{ *(.ARM.exidx*) }} > FLASH
    _data_load = LOADADDR(.data);
    .data : {{ _data_start = .; *(.data*) . = ALIGN(4); _data_end = .; }} > RAM AT > FLASH
    .bss (NOLOAD) : {{ _bss_start = .; *(.bss*) *(COMMON) . = ALIGN(4); _bss_end = .; }} > RAM
}}
"""

_STARTUP = """
#include <stdint.h>
extern uint32_t _stack_top, _data_load, _data_start, _data_end, _bss_start, _bss_end;
int main(void);

int ew_semihost(int op, void *arg) {
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void ew_reset(void) {
    uint32_t *src = &_data_load, *dst = &_data_start;
    while (dst < &_data_end) *dst++ = *src++;
    for (dst = &_bss_start; dst < &_bss_end;) *dst++ = 0;
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20; /* CPACR: CP10 and CP11 full access */
    __asm__ volatile("dsb\\n isb");
    main();
    ew_semihost(0x18, (void *)0x20026); /* SYS_EXIT, ADP_Stopped_ApplicationExit */
    for (;;) {}
}

static void ew_fault(void) {
    ew_semihost(0x18, (void *)0x20023); /* ADP_Stopped_RunTimeErrorUnknown */
    for (;;) {}
}

__attribute__((section(".vectors"), used)) static void (*const ew_vectors[16])(void) = {
    (void (*)(void))&_stack_top, ew_reset, ew_fault, ew_fault, ew_fault, ew_fault, ew_fault,
};
"""

_MAIN = """
#include <stdint.h>
#include "ew_model.h"
int ew_semihost(int op, void *arg);

static int ew_open(const char *name, int mode, int length) {
    uintptr_t args[3] = {(uintptr_t)name, (uintptr_t)mode, (uintptr_t)length};
    return ew_semihost(0x01, args);
}

static int ew_io(int op, int handle, void *buffer, int length) {
    uintptr_t args[3] = {(uintptr_t)handle, (uintptr_t)buffer, (uintptr_t)length};
    return ew_semihost(op, args); /* bytes NOT transferred */
}

static ew_sample_t window[EW_WINDOW];

int main(void) {
    int in = ew_open("windows.bin", 1, 11), out = ew_open("outputs.bin", 5, 11);
    ew_logit_t logits[EW_CLASSES];
    if (in < 0 || out < 0) return 1;
    while (ew_io(0x06, in, window, sizeof window) == 0) {
        int32_t predicted = ew_predict(window, logits);
        ew_io(0x05, out, &predicted, sizeof predicted);
        ew_io(0x05, out, logits, sizeof logits);
    }
    return 0;
}
"""

_STUB = """
#include "ew_model.h"
int ew_predict(const ew_sample_t *samples, ew_logit_t *logits) {
    for (int c = 0; c < EW_CLASSES; ++c) logits[c] = samples[c];
    return 0;
}
"""


@dataclass(frozen=True)
class M4Run:
    """Outputs of the firmware and what the model costs on the M4."""

    classes: npt.NDArray[np.int32]
    logits: npt.NDArray[Any]
    flash_bytes: int
    ram_bytes: int


def _build(folder: Path, model_source: Path, include: Sequence[Path]) -> Path:
    elf = folder / f"{model_source.stem}.elf"
    objects = []
    includes = [f"-isystem{path}" for path in include]  # their warnings are not ours
    for source in (folder / "startup.c", folder / "m4_main.c", model_source):
        obj = folder / f"{source.stem}.o"
        subprocess.run(
            [*_CFLAGS, *includes, "-fstack-usage", "-c", str(source), "-o", str(obj)],
            check=True,
            timeout=120,
        )
        objects.append(str(obj))
    subprocess.run(
        [*_CFLAGS, "-nostartfiles", "--specs=nosys.specs", "-Wl,--gc-sections",
         "-T", str(folder / "m4.ld"), *objects, "-lm", "-o", str(elf)],
        check=True,
        timeout=120,
    )  # fmt: skip
    return elf


def _sizes(path: Path) -> tuple[int, int, int]:
    """text, data, bss of an object or ELF file."""
    done = subprocess.run(
        ["arm-none-eabi-size", str(path)], capture_output=True, text=True, check=True
    )
    text, data, bss = (int(field) for field in done.stdout.splitlines()[1].split()[:3])
    return text, data, bss


def _stack(su: Path) -> int:
    return sum(int(m.group(1)) for m in re.finditer(r"\t(\d+)\t", su.read_text(encoding="utf-8")))


def run_on_m4(
    model: Model,
    windows: npt.NDArray[Any],
    folder: Path,
    *,
    timeout: float = 300.0,
    source: str | None = None,
    include: Sequence[Path] = (),
) -> M4Run:
    """Build the model's firmware in ``folder``, run it on ``windows`` under QEMU.

    ``source``, if given, replaces the exported ``ew_model.c`` (another tool's C defining
    ``ew_predict`` for the model's ``ew_model.h``); ``include``: its header folders.
    """
    if source is None:
        export_c(model, folder)
    else:
        (folder / "ew_model.h").write_text(export_header(model), encoding="utf-8")
        (folder / "ew_model.c").write_text(source, encoding="utf-8")
    for name, content in (
        ("m4.ld", _LINKER),
        ("startup.c", _STARTUP),
        ("m4_main.c", _MAIN),
        ("stub.c", _STUB),
    ):
        (folder / name).write_text(content, encoding="utf-8")
    elf = _build(folder, folder / "ew_model.c", include)
    stub = _build(folder, folder / "stub.c", include)
    _build(folder, folder / "ew_model.c", include)  # the model's .su and .o last
    text, data, _ = _sizes(elf)
    stub_text, stub_data, _ = _sizes(stub)
    _, model_data, model_bss = _sizes(folder / "ew_model.o")
    int8 = model.precision == "int8"
    (folder / "windows.bin").write_bytes(windows.astype(np.int16 if int8 else np.float32).tobytes())
    (folder / "outputs.bin").unlink(missing_ok=True)
    subprocess.run(
        ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
         "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
        cwd=folder, check=True, timeout=timeout, capture_output=True,
    )  # fmt: skip
    record = np.dtype([("c", "<i4"), ("logits", "<i4" if int8 else "<f4", (len(model.classes),))])
    out = np.frombuffer((folder / "outputs.bin").read_bytes(), dtype=record)
    return M4Run(
        classes=out["c"],
        logits=out["logits"],
        flash_bytes=(text + data) - (stub_text + stub_data),
        ram_bytes=model_data + model_bss + _stack(folder / "ew_model.su"),
    )
