SELECT count(*) FROM naive_fifo.job WHERE queue = :'q' AND status <> 'done';
