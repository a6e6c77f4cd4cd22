"""Read the kernel<->user contract (bpf/rostrace.h) and write its Python side (abi.py).

`python3 -m rostrace.probes.contract` (or `make abi`) regenerates abi.py after an edit
of rostrace.h; test/unit/test_abi.py fails while the two disagree. The parser reads
only what rostrace.h is allowed to hold (see the comment at its top): enums with
integer values and structs of u8/u32/u64, arrays of them and structs defined above.
"""
import os
import re
import sys

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bpf', 'rostrace.h')
GENERATED = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'abi.py')

CTYPES = {'u8': 'ctypes.c_uint8', 'u32': 'ctypes.c_uint32', 'u64': 'ctypes.c_uint64'}
_ENUM = re.compile(r'\benum\s+(\w+)\s*\{(.*?)\}\s*;', re.S)
_STRUCT = re.compile(r'\bstruct\s+(\w+)\s*\{(.*?)\}\s*;', re.S)
_MEMBER = re.compile(r'^(?:(struct)\s+)?(\w+)\s+(\w+)(?:\[(\w+)\])?$')


class ContractError(ValueError):
    """rostrace.h holds something the generator cannot mirror."""


def _strip_comments(text):
    return re.sub(r'//[^\n]*', '', re.sub(r'/\*.*?\*/', '', text, flags=re.S))


def parse_enums(text):
    """{enum name: {member: value}} in the order written; a member without `= n`
    follows the previous one, as in C."""
    enums = {}
    for name, body in _ENUM.findall(_strip_comments(text)):
        members, value = {}, -1
        for item in filter(None, (i.strip() for i in body.split(','))):
            member, _, given = (part.strip() for part in item.partition('='))
            value = int(given, 0) if given else value + 1
            members[member] = value
        enums[name] = members
    return enums


def parse_structs(text, constants):
    """{struct name: [(field, type, array length or None)]}; `type` is u8/u32/u64 or
    'struct NAME'; array lengths may name an enum constant."""
    structs = {}
    for name, body in _STRUCT.findall(_strip_comments(text)):
        fields = []
        for decl in filter(None, (d.strip() for d in body.split(';'))):
            m = _MEMBER.match(' '.join(decl.split()))
            if m is None:
                raise ContractError(f'struct {name}: cannot mirror member {decl!r}')
            is_struct, ftype, field, length = m.groups()
            if is_struct:
                if ftype not in structs:
                    raise ContractError(f'struct {name}.{field}: struct {ftype} not defined above')
                ftype = f'struct {ftype}'
            elif ftype not in CTYPES:
                raise ContractError(f'struct {name}.{field}: type {ftype} is not u8/u32/u64')
            if length is not None:
                length = int(length) if length.isdigit() else constants.get(length)
                if length is None:
                    raise ContractError(f'struct {name}.{field}: unknown array length')
            fields.append((field, ftype, length))
        structs[name] = fields
    return structs


def parse_header(path=HEADER):
    with open(path) as f:
        text = f.read()
    enums = parse_enums(text)
    constants = {k: v for members in enums.values() for k, v in members.items()}
    return enums, parse_structs(text, constants)


def class_name(struct):
    return ''.join(part.capitalize() for part in struct.split('_'))


def _ctype(ftype, length):
    base = (class_name(ftype.split()[1]) if ftype.startswith('struct ') else CTYPES[ftype])
    return f'{base} * {length}' if length is not None else base


def generate(enums, structs):
    """The text of abi.py."""
    out = ['"""The kernel<->user contract for Python: GENERATED from bpf/rostrace.h by',
           '`make abi` (python3 -m rostrace.probes.contract). Do not edit; edit rostrace.h.',
           'test/unit/test_abi.py fails while this file and the compiled header disagree."""',
           'import ctypes', '']
    for name, members in enums.items():
        out.append(f'# enum {name}')
        out += [f'{member} = {value}' for member, value in members.items()]
        out.append(f'{name.upper()} = {{')
        out += [f'    {member!r}: {member},' for member in members]
        out.append('}')
        out.append('')
    for name, fields in structs.items():
        out += ['', f'class {class_name(name)}(ctypes.Structure):',
                f'    """struct {name}"""', '    _fields_ = [']
        out += [f'        ({field!r}, {_ctype(ftype, length)}),' for field, ftype, length in fields]
        out += ['    ]', '']
    return '\n'.join(out).rstrip('\n') + '\n'


def main(argv=None):
    text = generate(*parse_header())
    with open(GENERATED, 'w') as f:
        f.write(text)
    print(f'wrote {GENERATED}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
