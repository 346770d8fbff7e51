//! The builtins that need the shell's state (the pure parts are in the
//! library's `builtins` and `testexpr`).

use super::*;

impl Shell {
    pub(super) fn builtin(&mut self, name: &str, args: &[String]) -> i32 {
        match name {
            ":" | "true" => 0,
            "false" => 1,
            "echo" => {
                print!("{}", sh::builtins::echo(args));
                0
            }
            "pwd" => {
                println!("{}", fs::getcwd());
                0
            }
            "cd" => self.builtin_cd(args),
            "exit" => {
                let code = match args.first() {
                    None => self.status,
                    Some(a) => match a.parse::<i32>() {
                        Ok(n) => n & 0xff,
                        Err(_) => {
                            eprintln!("sh: exit: {a}: bad number");
                            2
                        }
                    },
                };
                self.exit(code)
            }
            "test" => self.builtin_test(args),
            "[" => {
                if args.last().map(String::as_str) != Some("]") {
                    eprintln!("sh: [: missing ]");
                    return 2;
                }
                self.builtin_test(&args[..args.len() - 1])
            }
            "export" => {
                if args.is_empty() || args[0] == "-p" {
                    for (k, v) in self.vars.exported() {
                        match v {
                            Some(v) => println!("export {k}={}", quote(v)),
                            None => println!("export {k}"),
                        }
                    }
                    return 0;
                }
                let mut st = 0;
                for a in args {
                    let (k, v) = match a.split_once('=') {
                        Some((k, v)) => (k, Some(v)),
                        None => (a.as_str(), None),
                    };
                    if !is_name(k) {
                        eprintln!("sh: export: {k}: bad variable name");
                        st = 1;
                        continue;
                    }
                    self.vars.export(k, v);
                }
                st
            }
            "unset" => {
                let (funcs, names) = match args.first().map(String::as_str) {
                    Some("-f") => (true, &args[1..]),
                    Some("-v") => (false, &args[1..]),
                    _ => (false, args),
                };
                for n in names {
                    if funcs {
                        self.funcs.remove(n);
                    } else {
                        self.vars.unset(n);
                    }
                }
                0
            }
            "set" => self.builtin_set(args),
            "shift" => {
                let n = match args.first().map(|a| a.parse::<usize>()) {
                    None => 1,
                    Some(Ok(n)) => n,
                    Some(Err(_)) => {
                        eprintln!("sh: shift: {}: bad number", args[0]);
                        return 2;
                    }
                };
                if n > self.params.len() {
                    eprintln!("sh: shift: can't shift that many");
                    return 1;
                }
                self.params.drain(..n);
                0
            }
            "wait" => self.builtin_wait(args),
            "break" | "continue" => {
                let n = match args.first().map(|a| a.parse::<usize>()) {
                    None => 1,
                    Some(Ok(n)) if n > 0 => n,
                    _ => {
                        eprintln!("sh: {name}: bad number");
                        return 1;
                    }
                };
                if self.loops == 0 {
                    return 0;
                }
                let n = n.min(self.loops);
                self.flow = if name == "break" {
                    Flow::Break(n)
                } else {
                    Flow::Continue(n)
                };
                0
            }
            "return" => {
                let st = match args.first().map(|a| a.parse::<i32>()) {
                    None => self.status,
                    Some(Ok(n)) => n & 0xff,
                    Some(Err(_)) => {
                        eprintln!("sh: return: bad number");
                        2
                    }
                };
                if self.calls == 0 {
                    eprintln!("sh: return: not in a function");
                    return 1;
                }
                self.flow = Flow::Return;
                st
            }
            "eval" => {
                let text = args.join(" ");
                self.run_text(&text, "eval")
            }
            "." => {
                let Some(file) = args.first() else {
                    eprintln!("sh: .: filename argument required");
                    return 2;
                };
                let path = if file.contains('/') {
                    Some(file.clone())
                } else {
                    let p = self.vars.get("PATH").unwrap_or("/bin:/sbin").to_string();
                    ulib::path::search(file, Some(&p))
                        .into_iter()
                        .find(|c| fs::stat(c).is_ok_and(|m| m.is_file()))
                };
                let text = match path.as_deref().map(fs::read) {
                    Some(Ok(t)) => String::from_utf8_lossy(&t).into_owned(),
                    Some(Err(e)) => {
                        eprintln!("sh: .: {file}: {}", strerror(e));
                        return 1;
                    }
                    None => {
                        eprintln!("sh: .: {file}: not found");
                        return 1;
                    }
                };
                self.run_text(&text, file)
            }
            "read" => self.builtin_read(args),
            "local" => {
                let Some(frame) = self.locals.last_mut() else {
                    eprintln!("sh: local: not in a function");
                    return 1;
                };
                let mut st = 0;
                let mut sets = Vec::new();
                for a in args {
                    let (k, v) = match a.split_once('=') {
                        Some((k, v)) => (k, Some(v)),
                        None => (a.as_str(), None),
                    };
                    if !is_name(k) {
                        eprintln!("sh: local: {k}: bad variable name");
                        st = 1;
                        continue;
                    }
                    if !frame.iter().any(|(n, _)| n == k) {
                        frame.push((k.to_string(), self.vars.get(k).map(String::from)));
                    }
                    if let Some(v) = v {
                        sets.push((k, v));
                    }
                }
                for (k, v) in sets {
                    self.vars.set(k, v);
                }
                st
            }
            "trap" => self.builtin_trap(args),
            "getopts" => {
                let (Some(spec), Some(var)) = (args.first(), args.get(1)) else {
                    eprintln!("sh: getopts: usage: getopts optstring name [arg...]");
                    return 2;
                };
                if !is_name(var) {
                    eprintln!("sh: getopts: {var}: bad variable name");
                    return 2;
                }
                let list = if args.len() > 2 {
                    args[2..].to_vec()
                } else {
                    self.params.clone()
                };
                let mut ind = self
                    .vars
                    .get("OPTIND")
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(1);
                if ind != self.getopts_ind {
                    self.getopts_pos = 1;
                }
                let g = sh::builtins::getopts(spec, &list, &mut ind, &mut self.getopts_pos);
                self.getopts_ind = ind;
                self.vars.set("OPTIND", &ind.to_string());
                self.vars.set(var, &g.name.to_string());
                match g.optarg {
                    Some(a) => self.vars.set("OPTARG", &a),
                    None => self.vars.unset("OPTARG"),
                }
                if let Some(e) = g.error {
                    eprintln!("sh: {e}");
                }
                g.status
            }
            "command" | "type" => {
                // `command -v NAME...` and `type NAME...`: what a name is.
                let (names, short) = match (name, args.first().map(String::as_str)) {
                    ("command", Some("-v")) => (&args[1..], true),
                    ("command", _) => {
                        eprintln!("sh: command: only -v is supported");
                        return 2;
                    }
                    _ => (args, false),
                };
                let mut st = 0;
                for n in names {
                    let what = if self.funcs.contains_key(n) {
                        Some((n.clone(), "a function"))
                    } else if BUILTINS.contains(&n.as_str()) {
                        Some((n.clone(), "a shell builtin"))
                    } else {
                        let p = self.vars.get("PATH").unwrap_or("/bin:/sbin").to_string();
                        ulib::path::search(n, Some(&p))
                            .into_iter()
                            .find(|c| fs::stat(c).is_ok_and(|m| m.is_file()))
                            .map(|c| (c, ""))
                    };
                    match what {
                        Some((w, _)) if short => println!("{w}"),
                        Some((w, "")) => println!("{n} is {w}"),
                        Some((_, kind)) => println!("{n} is {kind}"),
                        None => {
                            if !short {
                                eprintln!("sh: type: {n}: not found");
                            }
                            st = 1;
                        }
                    }
                }
                st
            }
            "printf" => {
                let Some(format) = args.first() else {
                    eprintln!("sh: printf: usage: printf format [arguments]");
                    return 2;
                };
                let o = sh::builtins::printf(format, &args[1..]);
                print!("{}", o.text);
                for e in &o.errors {
                    eprintln!("sh: printf: {e}");
                }
                i32::from(!o.errors.is_empty())
            }
            "umask" => match args.first() {
                None => match fs::umask(0) {
                    Ok(old) => {
                        let _ = fs::umask(old);
                        println!("{old:04o}");
                        0
                    }
                    Err(e) => {
                        eprintln!("sh: umask: {}", strerror(e));
                        1
                    }
                },
                Some(m) => match u16::from_str_radix(m, 8).ok().filter(|v| *v <= 0o777) {
                    Some(v) => match fs::umask(v) {
                        Ok(_) => 0,
                        Err(e) => {
                            eprintln!("sh: umask: {}", strerror(e));
                            1
                        }
                    },
                    None => {
                        eprintln!("sh: umask: {m}: bad mode");
                        1
                    }
                },
            },
            _ => {
                eprintln!("sh: {name}: not found");
                127
            }
        }
    }

    fn builtin_trap(&mut self, args: &[String]) -> i32 {
        if args.is_empty() {
            for (sig, action) in &self.traps {
                let name = if *sig == 0 {
                    "EXIT"
                } else {
                    signal::name(*sig).trim_start_matches("SIG")
                };
                println!("trap -- {} {name}", quote(action));
            }
            return 0;
        }
        // `trap SIG...` (first word a signal number) resets them.
        let (action, sigs) = if args[0].parse::<u32>().is_ok() {
            ("-", args)
        } else {
            (args[0].as_str(), &args[1..])
        };
        let mut st = 0;
        for s in sigs {
            let Some(sig) = signal_number(s).filter(|&n| n != SIGKILL && n != SIGSTOP) else {
                eprintln!("sh: trap: {s}: bad trap");
                st = 1;
                continue;
            };
            let handler = match action {
                "-" => {
                    self.traps.remove(&sig);
                    if self.interactive && sig == SIGINT {
                        Handler::Catch(on_sigint)
                    } else if self.interactive && (sig == SIGQUIT || sig == SIGTERM) {
                        Handler::Ignore
                    } else {
                        Handler::Default
                    }
                }
                "" => {
                    self.traps.insert(sig, String::new());
                    Handler::Ignore
                }
                a => {
                    self.traps.insert(sig, a.to_string());
                    Handler::Catch(on_trap)
                }
            };
            if sig != 0
                && let Err(e) = signal::signal(sig, handler)
            {
                eprintln!("sh: trap: {s}: {}", strerror(e));
                st = 1;
            }
        }
        st
    }

    fn builtin_cd(&mut self, args: &[String]) -> i32 {
        let mut print = false;
        let dir = match args.first().map(String::as_str) {
            None => match self.vars.get("HOME") {
                Some(h) => h.to_string(),
                None => {
                    eprintln!("sh: cd: HOME not set");
                    return 1;
                }
            },
            Some("-") => match self.vars.get("OLDPWD") {
                Some(o) => {
                    print = true;
                    o.to_string()
                }
                None => {
                    eprintln!("sh: cd: OLDPWD not set");
                    return 1;
                }
            },
            Some(d) => d.to_string(),
        };
        let old = fs::getcwd();
        if let Err(e) = fs::chdir(&dir) {
            eprintln!("sh: cd: {dir}: {}", strerror(e));
            return 1;
        }
        let new = fs::getcwd();
        self.vars.set("OLDPWD", &old);
        self.vars.set("PWD", &new);
        if print {
            println!("{new}");
        }
        0
    }

    fn builtin_test(&mut self, args: &[String]) -> i32 {
        match testexpr::test(args, &FsProbe) {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                eprintln!("sh: test: {e}");
                2
            }
        }
    }

    fn builtin_set(&mut self, args: &[String]) -> i32 {
        if args.is_empty() {
            for (k, v) in self.vars.all() {
                println!("{k}={}", quote(v));
            }
            return 0;
        }
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if a == "--" {
                self.params = args[i + 1..].to_vec();
                return 0;
            }
            let on = match a.chars().next() {
                Some('-') => true,
                Some('+') => false,
                _ => break,
            };
            if a.len() == 1 {
                // `set -` ends the options.
                i += 1;
                break;
            }
            for c in a.chars().skip(1) {
                match c {
                    'e' => self.opt_e = on,
                    'u' => self.opt_u = on,
                    'x' => self.opt_x = on,
                    _ => {
                        eprintln!("sh: set: -{c}: unknown option");
                        return 2;
                    }
                }
            }
            i += 1;
        }
        if i < args.len() {
            self.params = args[i..].to_vec();
        }
        0
    }

    fn builtin_wait(&mut self, args: &[String]) -> i32 {
        if args.is_empty() {
            while let Some(pid) = self.jobs.first().copied() {
                match process::waitpid(pid, 0) {
                    Ok(_) | Err(Errno::ECHILD) => {
                        self.jobs.retain(|&p| p != pid);
                    }
                    Err(Errno::EINTR) => {
                        if let Some(sig) = self.run_traps() {
                            return 128 + sig as i32;
                        }
                        if self.interrupted() {
                            return 130;
                        }
                    }
                    Err(e) => {
                        eprintln!("sh: wait: {}", strerror(e));
                        return 1;
                    }
                }
            }
            self.done.clear();
            return 0;
        }
        let mut st = 0;
        for a in args {
            let Some(pid) = a.parse::<Pid>().ok().filter(|p| *p > 0) else {
                eprintln!("sh: wait: {a}: bad pid");
                st = 2;
                continue;
            };
            if let Some(i) = self.done.iter().position(|(p, _)| *p == pid) {
                st = self.done.remove(i).1;
                continue;
            }
            st = loop {
                match process::waitpid(pid, 0) {
                    Ok((_, s)) => break status_code(s),
                    Err(Errno::EINTR) => {
                        if self.interrupted() {
                            return 130;
                        }
                    }
                    Err(Errno::ECHILD) => {
                        eprintln!("sh: wait: pid {pid} is not a child of this shell");
                        break 127;
                    }
                    Err(e) => {
                        eprintln!("sh: wait: {}", strerror(e));
                        break 1;
                    }
                }
            };
            self.jobs.retain(|&p| p != pid);
        }
        st
    }

    fn builtin_read(&mut self, args: &[String]) -> i32 {
        let (raw, names) = match args.first().map(String::as_str) {
            Some("-r") => (true, &args[1..]),
            _ => (false, args),
        };
        // One byte at a time: what follows the line stays for the next
        // reader of the descriptor.
        let mut line = Vec::new();
        let mut eof = false;
        loop {
            let mut b = [0u8; 1];
            match fd::read(0, &mut b) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(_) => {
                    if b[0] == b'\n' {
                        if !raw && line.last() == Some(&b'\\') {
                            line.pop();
                            continue;
                        }
                        break;
                    }
                    line.push(b[0]);
                }
                Err(Errno::EINTR) => {
                    if self.interrupted() {
                        return 130;
                    }
                }
                Err(e) => {
                    eprintln!("sh: read: {}", strerror(e));
                    return 1;
                }
            }
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        let text = if raw {
            text
        } else {
            let mut s = String::new();
            let mut it = text.chars();
            while let Some(c) = it.next() {
                if c == '\\' {
                    if let Some(n) = it.next() {
                        s.push(n);
                    }
                } else {
                    s.push(c);
                }
            }
            s
        };
        let ifs = self.vars.get("IFS").unwrap_or(" \t\n").to_string();
        let names: Vec<&str> = if names.is_empty() {
            alloc::vec!["REPLY"]
        } else {
            names.iter().map(String::as_str).collect()
        };
        let mut rest = text.trim_matches(|c: char| ifs.contains(c) && c.is_whitespace());
        for (i, n) in names.iter().enumerate() {
            if !is_name(n) {
                eprintln!("sh: read: {n}: bad variable name");
                return 2;
            }
            if i + 1 == names.len() {
                self.vars.set(n, rest);
                break;
            }
            let end = rest.find(|c: char| ifs.contains(c)).unwrap_or(rest.len());
            self.vars.set(n, &rest[..end]);
            rest = rest[end..].trim_start_matches(|c: char| ifs.contains(c));
        }
        if eof && line.is_empty() { 1 } else { 0 }
    }

    pub(super) fn builtin_exec(
        &mut self,
        args: &[String],
        assigns: &[(String, String)],
        redirs: &[Redirect],
    ) -> i32 {
        if self.redirect(redirs, None).is_err() {
            if !self.interactive {
                self.exit(1);
            }
            return 1;
        }
        if args.is_empty() {
            for (k, v) in assigns {
                self.vars.set(k, v);
            }
            return 0;
        }
        let env = self.vars.environment(assigns);
        self.exec_program(args, &env)
    }
}
