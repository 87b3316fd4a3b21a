SELECT count(*) FROM naive.job WHERE queue = :'q' AND status <> 'done';
