"""Places perf samples (perf script -F ip,dso on stdin) on the JIT code copies
that scripts/jit_profile.sh made in OUT (argv[1]); prints the report and
writes OUT/m_<address>.annot for the hottest five mappings."""
import collections, glob, os, re, subprocess, sys
out = sys.argv[1]
regs = []
for f in glob.glob(os.path.join(out, 'm_*.bin')):
    s = int(os.path.basename(f)[2:-4], 16)
    regs.append((s, s + os.path.getsize(f), f))
regs.sort()
total = 0
by_dso = collections.Counter()
hits = collections.Counter()
uncopied = 0
for line in sys.stdin:
    p = line.split()
    if len(p) < 2:
        continue
    total += 1
    dso = p[1].strip('()')
    if '/perf-' not in dso and dso != '[unknown]':
        by_dso[os.path.basename(dso)] += 1
        continue
    ip = int(p[0], 16)
    for s, e, f in regs:
        if s <= ip < e:
            hits[(f, ip)] += 1
            break
    else:
        uncopied += 1
if not total:
    print('no samples'); sys.exit(0)
per = collections.Counter()
for (f, ip), v in hits.items():
    per[f] += v
jit = sum(per.values()) + uncopied
print('%d samples: JIT code %.1f %%, not copied %.1f %%' % (total, 100 * jit / total, 100 * uncopied / total))
for d, v in by_dso.most_common(6):
    print('  %-28s %5.1f %%' % (d, 100 * v / total))
print('JIT mappings by share of all samples:')
for f, v in per.most_common(12):
    print('  %s  %6d bytes  %5.1f %%' % (os.path.basename(f), os.path.getsize(f), 100 * v / total))
for f, v in per.most_common(5):
    s = int(os.path.basename(f)[2:-4], 16)
    asm = subprocess.run(['objdump', '-D', '-b', 'binary', '-m', 'i386:x86-64', '--adjust-vma=0x%x' % s, f],
                         capture_output=True, text=True).stdout
    blocks = collections.Counter()
    lines = []
    for L in asm.split('\n'):
        m = re.match(r'\s*([0-9a-f]+):', L)
        if not m:
            continue
        a = int(m.group(1), 16)
        c = hits.get((f, a), 0)
        blocks[a >> 8] += c
        lines.append('%6d %s' % (c, L))
    with open(f[:-4] + '.annot', 'w') as w:
        w.write('\n'.join(lines) + '\n')
    print('%s: hottest 256-byte blocks (share of this mapping)' % os.path.basename(f))
    for b, c in blocks.most_common(6):
        print('  0x%x  %5.1f %%' % (b << 8, 100 * c / v))
